"""Demo data and the AWS emulator for `make run`; never used by the product's code."""
