"""ToolHive manifests checked against the operator's own CRDs: where the CRDs come from (`sources`), what
they define (`catalog`), structural-schema validation (`openapi`), defaulting (`defaults`), the CEL rules
(`cel_rules`, `k8s_cel`), findings for manifests (`manifests`) and run-time references (`refs`)."""
