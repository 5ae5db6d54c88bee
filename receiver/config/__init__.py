"""Configuration: typed settings, the egress policy, the routing policy file.

A leaf: it imports no other receiver module."""
