"""The networks, each readable top to bottom (nanoGPT style): the transformer trunk, the LSD-TN / LSD-NM
autoencoders and their Token Norm bottleneck, the MLM, the latent denoiser, its noise schedule and EMA."""
