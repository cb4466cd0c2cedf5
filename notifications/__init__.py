"""E-mail and Slack notices of the workflow's events, sent by the worker."""
