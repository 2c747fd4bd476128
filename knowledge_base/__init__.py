"""kefu package."""
