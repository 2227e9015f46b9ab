"""End-to-end smoothness measurements on trained networks (the paper's Sections 2 and 3).

``models`` (MLP, VGG-style CNN, the 25-layer deep linear network, any normalization after each
linear/conv layer), ``data`` (digits, synthetic, a local CIFAR-10), ``train`` (seeded SGD,
checkpoints, exact resume) and ``probes`` (loss variation, gradient predictiveness,
effective beta-smoothness, internal covariate shift, activation statistics, Hessian spectra).
"""
