-- mcp-gitops' own bookkeeping, kept apart from the registry server's tables in schema mcp_gitops.

CREATE SCHEMA IF NOT EXISTS mcp_gitops;

-- Facts about this database: our bookkeeping version, and whether we created the registry schema.
CREATE TABLE mcp_gitops.meta (
    key text PRIMARY KEY,
    value text NOT NULL
);

-- The last successful apply (one row).
CREATE TABLE mcp_gitops.state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    revision text,
    digest text NOT NULL,
    -- how mcp-gitops maps files to rows; a new mapping must not trust "same revision, same rows"
    row_format integer NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Rows we created in the registry server's tables; only these are ever updated or pruned.
CREATE TABLE mcp_gitops.owned_source (
    name text PRIMARY KEY,
    source_id uuid NOT NULL
);

CREATE TABLE mcp_gitops.owned_registry (
    name text PRIMARY KEY,
    registry_id uuid NOT NULL
);

CREATE TABLE mcp_gitops.owned_entry (
    name text PRIMARY KEY,
    entry_id uuid NOT NULL,
    -- the claims we wrote, so a change made through the registry server's API shows up as drift
    claims jsonb,
    -- digest of those claims, so comparing with the repository needs no JSON parsing
    claims_digest text NOT NULL
);
CREATE INDEX owned_entry_entry_id_idx ON mcp_gitops.owned_entry (entry_id);

CREATE TABLE mcp_gitops.owned_version (
    name text NOT NULL,
    version text NOT NULL,
    version_id uuid NOT NULL,
    path text NOT NULL,
    -- digest of the entry file's server.json: unchanged digest, unchanged rows
    digest text NOT NULL,
    -- digest per written field group, to name what changed
    field_digests jsonb NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX owned_version_version_id_idx ON mcp_gitops.owned_version (version_id);

-- Recent runs, newest kept.
CREATE TABLE mcp_gitops.run (
    id bigserial PRIMARY KEY,
    revision text,
    started_at timestamptz NOT NULL,
    duration_ms integer NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('applied', 'unchanged', 'failed')),
    created integer NOT NULL DEFAULT 0,
    updated integer NOT NULL DEFAULT 0,
    deleted integer NOT NULL DEFAULT 0,
    error text
);
