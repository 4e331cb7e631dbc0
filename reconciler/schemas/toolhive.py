"""The ToolHive operator's custom resources we reason about: MCPServer, VirtualMCPServer, MCPGroup
(group toolhive.stacklok.dev; v1beta1 is the storage version, v1alpha1 is served with the same schema).

Every documented spec field is declared, so that a misspelt key directly under `spec` is an error.
Blocks we do not reason about (authz, OIDC references, telemetry, vMCP config...) are free-form: their
shape is the operator's to check, and it changes faster than ours would.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from reconciler.schemas.base import DnsLabel, DnsSubdomain, FreeForm, NonEmpty, Strict, rule_error

TOOLHIVE_GROUP = "toolhive.stacklok.dev"
API_VERSIONS = (f"{TOOLHIVE_GROUP}/v1beta1", f"{TOOLHIVE_GROUP}/v1alpha1")
ApiVersion = Literal["toolhive.stacklok.dev/v1beta1", "toolhive.stacklok.dev/v1alpha1"]

Port = Annotated[int, Field(ge=1, le=65535)]
Count = Annotated[int, Field(ge=0)]
SessionAffinity = Literal["ClientIP", "None"]


class ObjectMeta(Strict):
    # Kubernetes owns the rest of metadata (uid, generation, ownerReferences...): allowed, unchecked.
    model_config = ConfigDict(extra="allow")

    name: DnsSubdomain
    namespace: DnsLabel | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class NameRef(Strict):
    name: NonEmpty


class SecretKeyRef(Strict):
    name: NonEmpty
    key: NonEmpty


class SessionStorage(Strict):
    provider: Literal["memory", "redis"]
    address: NonEmpty | None = None
    db: Count = 0
    # The trailing ':' the proxy requires is the `session-key-prefix` policy's business.
    keyPrefix: str | None = None
    passwordRef: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _redis_has_address(self) -> SessionStorage:
        if self.provider == "redis" and self.address is None:
            raise rule_error("redis_address", "address is required when provider is redis")
        return self


class EnvVar(Strict):
    name: NonEmpty
    value: str


class HostVolume(Strict):
    name: NonEmpty
    hostPath: NonEmpty
    mountPath: NonEmpty
    readOnly: bool = False


class SecretRef(Strict):
    name: NonEmpty
    key: NonEmpty
    targetEnvName: str | None = None


class ResourceList(Strict):
    cpu: str | None = None
    memory: str | None = None


class Resources(Strict):
    limits: ResourceList | None = None
    requests: ResourceList | None = None


class PermissionProfileRef(Strict):
    type: Literal["builtin", "configmap"] = "builtin"
    name: NonEmpty
    key: str | None = None


class MCPServerSpec(Strict):
    image: NonEmpty
    transport: Literal["stdio", "streamable-http", "sse"] = "stdio"
    proxyMode: Literal["sse", "streamable-http"] | None = None
    proxyPort: Port | None = None
    mcpPort: Port | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    volumes: list[HostVolume] | None = None
    resources: Resources | None = None
    secrets: list[SecretRef] | None = None
    serviceAccount: str | None = None
    permissionProfile: PermissionProfileRef | None = None
    # Strategic-merged into the backend pods by the operator; a Kubernetes PodTemplateSpec.
    podTemplateSpec: FreeForm | None = None
    resourceOverrides: FreeForm | None = None
    oidcConfigRef: FreeForm | None = None
    authzConfig: FreeForm | None = None
    authzConfigRef: FreeForm | None = None
    audit: FreeForm | None = None
    toolConfigRef: FreeForm | None = None
    externalAuthConfigRef: FreeForm | None = None
    webhookConfigRef: FreeForm | None = None
    authServerRef: FreeForm | None = None
    telemetryConfigRef: FreeForm | None = None
    trustProxyHeaders: bool | None = None
    endpointPrefix: str | None = None
    groupRef: NameRef | None = None
    sessionAffinity: SessionAffinity | None = None
    replicas: Count | None = None
    backendReplicas: Count | None = None
    sessionStorage: SessionStorage | None = None
    rateLimiting: FreeForm | None = None
    proxyReadTimeout: str | None = None
    proxyWriteTimeout: str | None = None


class IncomingAuth(Strict):
    type: Literal["anonymous", "oidc"]
    oidcConfigRef: FreeForm | None = None
    authzConfig: FreeForm | None = None
    authzConfigRef: FreeForm | None = None

    @model_validator(mode="after")
    def _consistent(self) -> IncomingAuth:
        if self.type == "oidc" and self.oidcConfigRef is None:
            raise rule_error("incoming_auth", "oidcConfigRef is required when type is oidc")
        if self.authzConfig is not None and self.authzConfigRef is not None:
            raise rule_error("incoming_auth", "authzConfig and authzConfigRef are mutually exclusive")
        return self


class BackendAuth(Strict):
    type: Literal["discovered", "externalAuthConfigRef"]
    externalAuthConfigRef: NameRef | None = None


class OutgoingAuth(Strict):
    source: Literal["discovered", "inline"] | None = None
    default: BackendAuth | None = None
    backends: dict[str, BackendAuth] | None = None


class VirtualMCPServerSpec(Strict):
    incomingAuth: IncomingAuth
    outgoingAuth: OutgoingAuth | None = None
    passthroughHeaders: list[str] | None = None
    serviceType: Literal["ClusterIP", "NodePort", "LoadBalancer"] | None = None
    sessionAffinity: SessionAffinity | None = None
    serviceAccount: str | None = None
    # Strategic-merged into the vMCP Deployment (container `vmcp`).
    podTemplateSpec: FreeForm | None = None
    # Required by the CRD; left optional here so the `group-ref-required` policy explains it.
    groupRef: NameRef | None = None
    # pkg/vmcp/config.Config: aggregation, composite tools, operational settings... passed through.
    config: FreeForm | None = None
    telemetryConfigRef: FreeForm | None = None
    embeddingServerRef: NameRef | None = None
    authServerConfig: FreeForm | None = None
    imagePullSecrets: list[NameRef] | None = None
    replicas: Count | None = None
    sessionStorage: SessionStorage | None = None
    rateLimiting: FreeForm | None = None


class MCPGroupSpec(Strict):
    description: str | None = None


class _Resource(Strict):
    apiVersion: ApiVersion
    metadata: ObjectMeta
    # Written by the operator; a status in Git is harmless and ignored.
    status: Any = None


class MCPServer(_Resource):
    kind: Literal["MCPServer"]
    spec: MCPServerSpec


class VirtualMCPServer(_Resource):
    kind: Literal["VirtualMCPServer"]
    spec: VirtualMCPServerSpec


class MCPGroup(_Resource):
    kind: Literal["MCPGroup"]
    spec: MCPGroupSpec | None = None
