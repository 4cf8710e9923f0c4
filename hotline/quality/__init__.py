"""Quality management: evaluation forms (YAML) and their scoring."""
