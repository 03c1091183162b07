"""seas: Self-Evolving Adversarial Safety Optimization (Diao et al., AAAI 2025)."""

__version__ = "0.1.0"
