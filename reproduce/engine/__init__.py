"""The training engine: run folders, resume, seeding, interruption, guards, curves, provenance."""
