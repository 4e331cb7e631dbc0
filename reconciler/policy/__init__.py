"""Policies as data: `policies/*.yaml` (built in) plus a repository's own policy folders, each a CEL
rule set in the spirit of Kubernetes ValidatingAdmissionPolicy."""
