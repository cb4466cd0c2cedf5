"""IAM users' access keys: issued, delivered once, rotated and deactivated."""
