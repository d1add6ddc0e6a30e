"""Training: the loop (``train``), its stages, steps, optimiser, resumption, distributed set-up, logs and
final export, plus the campaign script that trains and evaluates every reference model in one go."""
