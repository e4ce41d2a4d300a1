"""The model catalog: PyPI-packaged GGUF judges and policies, their wheels, and the one-time GGUF conversion."""
