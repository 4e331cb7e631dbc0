-- The tables ToolHive Registry Server v1.2.0 reads, as its 21 up-migrations leave them on PostgreSQL 15.
-- Written by mcp-gitops from the published column types, keys, foreign keys and indexes (not copied from
-- the registry server). Applied only to an empty database; the caller records golang-migrate version 21,
-- dirty = false, in schema_migrations in the same transaction, so the registry server accepts it later.

CREATE TYPE creation_type AS ENUM ('API', 'CONFIG');
CREATE TYPE entry_type AS ENUM ('MCP', 'SKILL');
CREATE TYPE icon_theme AS ENUM ('LIGHT', 'DARK');
CREATE TYPE skill_status AS ENUM ('ACTIVE', 'DEPRECATED', 'ARCHIVED');
CREATE TYPE sync_status AS ENUM ('IN_PROGRESS', 'COMPLETED', 'FAILED');

CREATE TABLE source (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    creation_type creation_type NOT NULL DEFAULT 'CONFIG',
    sync_schedule interval,
    source_type text NOT NULL,
    source_config jsonb,
    filter_config jsonb,
    syncable boolean NOT NULL DEFAULT true,
    claims jsonb,
    CONSTRAINT source_pkey PRIMARY KEY (id),
    CONSTRAINT source_name_key UNIQUE (name),
    CONSTRAINT source_type_check CHECK (source_type IN ('git', 'api', 'file', 'managed', 'kubernetes'))
);
CREATE INDEX source_syncable_idx ON source (syncable);

CREATE TABLE registry (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    claims jsonb,
    creation_type creation_type NOT NULL DEFAULT 'CONFIG',
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT registry_pkey PRIMARY KEY (id),
    CONSTRAINT registry_name_key UNIQUE (name)
);

CREATE TABLE registry_source (
    registry_id uuid NOT NULL,
    source_id uuid NOT NULL,
    position integer NOT NULL DEFAULT 0,
    created_at timestamptz DEFAULT now(),
    CONSTRAINT registry_source_pkey PRIMARY KEY (registry_id, source_id),
    CONSTRAINT registry_source_registry_id_fkey FOREIGN KEY (registry_id)
        REFERENCES registry (id) ON DELETE CASCADE,
    CONSTRAINT registry_source_source_id_fkey FOREIGN KEY (source_id)
        REFERENCES source (id) ON DELETE RESTRICT
);
CREATE INDEX registry_source_registry_position_idx ON registry_source (registry_id, position, source_id);
CREATE INDEX registry_source_source_id_idx ON registry_source (source_id);

CREATE TABLE registry_entry (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    source_id uuid NOT NULL,
    entry_type entry_type NOT NULL,
    name text NOT NULL,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    claims jsonb,
    CONSTRAINT registry_entry_pkey PRIMARY KEY (id),
    CONSTRAINT registry_entry_source_type_name_key UNIQUE (source_id, entry_type, name),
    CONSTRAINT registry_entry_source_id_fkey FOREIGN KEY (source_id)
        REFERENCES source (id) ON DELETE CASCADE
);
CREATE INDEX registry_entry_entry_type_idx ON registry_entry (entry_type);
CREATE INDEX registry_entry_name_idx ON registry_entry (name);
CREATE INDEX registry_entry_source_id_idx ON registry_entry (source_id);

CREATE TABLE entry_version (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    entry_id uuid NOT NULL,
    version text NOT NULL,
    title text,
    description text,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    name text NOT NULL,
    CONSTRAINT entry_version_pkey PRIMARY KEY (id),
    CONSTRAINT entry_version_entry_id_version_key UNIQUE (entry_id, version),
    CONSTRAINT entry_version_entry_id_fkey FOREIGN KEY (entry_id)
        REFERENCES registry_entry (id) ON DELETE CASCADE
);
CREATE INDEX entry_version_entry_id_idx ON entry_version (entry_id);
CREATE INDEX entry_version_name_version_idx ON entry_version (name, version);

CREATE TABLE latest_entry_version (
    source_id uuid NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    latest_version_id uuid NOT NULL,
    CONSTRAINT latest_entry_version_pkey PRIMARY KEY (source_id, name),
    CONSTRAINT latest_entry_version_latest_version_id_fkey FOREIGN KEY (latest_version_id)
        REFERENCES entry_version (id) ON DELETE CASCADE,
    CONSTRAINT latest_entry_version_source_id_fkey FOREIGN KEY (source_id)
        REFERENCES source (id) ON DELETE CASCADE
);
CREATE INDEX latest_entry_version_latest_version_id_idx ON latest_entry_version (latest_version_id);

CREATE TABLE mcp_server (
    website text,
    upstream_meta jsonb,
    server_meta jsonb,
    repository_url text,
    repository_id text,
    repository_subfolder text,
    repository_type text,
    version_id uuid NOT NULL,
    CONSTRAINT mcp_server_pkey PRIMARY KEY (version_id),
    CONSTRAINT mcp_server_version_id_fkey FOREIGN KEY (version_id)
        REFERENCES entry_version (id) ON DELETE CASCADE
);

CREATE TABLE mcp_server_package (
    server_id uuid NOT NULL,
    registry_type text NOT NULL,
    pkg_registry_url text NOT NULL,
    pkg_identifier text NOT NULL,
    pkg_version text NOT NULL,
    runtime_hint text,
    runtime_arguments text[],
    package_arguments text[],
    sha256_hash text,
    transport text NOT NULL,
    transport_url text,
    env_vars jsonb,
    transport_headers jsonb,
    CONSTRAINT mcp_server_package_pkey PRIMARY KEY (server_id, registry_type, pkg_identifier, transport),
    CONSTRAINT mcp_server_package_server_id_fkey FOREIGN KEY (server_id)
        REFERENCES mcp_server (version_id) ON DELETE CASCADE
);

CREATE TABLE mcp_server_remote (
    server_id uuid NOT NULL,
    transport text NOT NULL,
    transport_url text NOT NULL,
    transport_headers jsonb,
    CONSTRAINT mcp_server_remote_pkey PRIMARY KEY (server_id, transport, transport_url),
    CONSTRAINT mcp_server_remote_server_id_fkey FOREIGN KEY (server_id)
        REFERENCES mcp_server (version_id) ON DELETE CASCADE
);

CREATE TABLE mcp_server_icon (
    server_id uuid NOT NULL,
    source_uri text NOT NULL,
    mime_type text NOT NULL,
    theme icon_theme NOT NULL,
    CONSTRAINT mcp_server_icon_pkey PRIMARY KEY (server_id, source_uri, mime_type, theme),
    CONSTRAINT mcp_server_icon_server_id_fkey FOREIGN KEY (server_id)
        REFERENCES mcp_server (version_id) ON DELETE CASCADE
);

CREATE TABLE skill (
    version_id uuid NOT NULL,
    namespace text NOT NULL,
    status skill_status NOT NULL DEFAULT 'ACTIVE',
    license text,
    compatibility text,
    allowed_tools text[],
    repository jsonb,
    icons jsonb,
    metadata jsonb,
    extension_meta jsonb,
    CONSTRAINT skill_pkey PRIMARY KEY (version_id),
    CONSTRAINT skill_version_id_namespace_key UNIQUE (version_id, namespace),
    CONSTRAINT skill_version_id_fkey FOREIGN KEY (version_id)
        REFERENCES entry_version (id) ON DELETE CASCADE
);
CREATE INDEX skill_namespace_idx ON skill (namespace);
CREATE INDEX skill_status_idx ON skill (status);

CREATE TABLE skill_git_package (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    skill_id uuid NOT NULL,
    url text NOT NULL,
    ref text,
    commit_sha text,
    subfolder text,
    CONSTRAINT skill_git_package_pkey PRIMARY KEY (id),
    CONSTRAINT skill_git_package_skill_id_fkey FOREIGN KEY (skill_id)
        REFERENCES skill (version_id) ON DELETE CASCADE
);
CREATE INDEX skill_git_package_skill_id_idx ON skill_git_package (skill_id);

CREATE TABLE skill_oci_package (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    skill_id uuid NOT NULL,
    identifier text NOT NULL,
    digest text,
    media_type text,
    CONSTRAINT skill_oci_package_pkey PRIMARY KEY (id),
    CONSTRAINT skill_oci_package_skill_id_fkey FOREIGN KEY (skill_id)
        REFERENCES skill (version_id) ON DELETE CASCADE
);
CREATE INDEX skill_oci_package_skill_id_idx ON skill_oci_package (skill_id);

CREATE TABLE registry_sync (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    source_id uuid,
    sync_status sync_status NOT NULL DEFAULT 'IN_PROGRESS',
    error_msg text,
    started_at timestamptz DEFAULT now(),
    ended_at timestamptz,
    attempt_count bigint NOT NULL DEFAULT 0,
    last_sync_hash text,
    last_applied_filter_hash text,
    server_count bigint NOT NULL DEFAULT 0,
    skill_count bigint NOT NULL DEFAULT 0,
    CONSTRAINT registry_sync_pkey PRIMARY KEY (id),
    CONSTRAINT registry_sync_source_id_key UNIQUE (source_id),
    CONSTRAINT registry_sync_source_id_fkey FOREIGN KEY (source_id)
        REFERENCES source (id) ON DELETE CASCADE
);
CREATE INDEX registry_sync_source_ended_idx ON registry_sync (source_id, ended_at);
CREATE INDEX registry_sync_source_started_idx ON registry_sync (source_id, started_at);

-- golang-migrate's own bookkeeping table, in the shape it creates.
CREATE TABLE schema_migrations (
    version bigint NOT NULL,
    dirty boolean NOT NULL,
    CONSTRAINT schema_migrations_pkey PRIMARY KEY (version)
);
INSERT INTO schema_migrations (version, dirty) VALUES (21, false);
