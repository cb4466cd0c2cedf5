"""Everything that talks to the outside world on the workflow's behalf: git, forges, AWS."""
