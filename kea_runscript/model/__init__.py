"""The model: Kea versions and their facts, the build matrix, the catalogue of variables and its
value types, units, the rule of the supervisor's code."""
