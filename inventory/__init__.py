"""The organization's AWS accounts, read from the Substrate repository and AWS."""
