"""Virtual environments (virtualenv's API, the environment's own pip) and wheelhouses."""
