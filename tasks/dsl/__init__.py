"""The exercise language (a small DSL, "the spec"): YAML with line numbers, the project config, exercise specs, environment
specs and Dockerfile reading. Pure data: frozen dataclasses, errors with file:line:key."""
