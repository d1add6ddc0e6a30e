"""Reference Latent Space Diffusion models (LSD-TN, LSD-NM), their MLM baseline and latent diffusion.

Trained in this repo with ``lsd-train``; their representations plug into lsdbench as encoders through
the ``lsdbench.encoders`` entry points (see ``reference_models/README.md``).
"""
