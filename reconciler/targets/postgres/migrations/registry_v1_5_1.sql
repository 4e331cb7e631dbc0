-- What ToolHive Registry Server v1.5.1 adds on top of the v1.2.0 tables (its migrations 22 and 23), written
-- by mcp-gitops from the published column types (not copied from the registry server). Applied only right
-- after registry_v1_2_0.sql to an empty database; the caller then records golang-migrate version 23.

-- Plugins (migration 22): a third entry type with its own tables. mcp-gitops never writes them; they exist
-- so that the registry server finds the schema it expects.
ALTER TYPE entry_type ADD VALUE IF NOT EXISTS 'PLUGIN';
CREATE TYPE plugin_status AS ENUM ('ACTIVE', 'DEPRECATED', 'ARCHIVED');

CREATE TABLE plugin (
    version_id uuid NOT NULL,
    namespace text NOT NULL,
    status plugin_status NOT NULL DEFAULT 'ACTIVE',
    license text,
    repository jsonb,
    icons jsonb,
    metadata jsonb,
    extension_meta jsonb,
    CONSTRAINT plugin_pkey PRIMARY KEY (version_id),
    CONSTRAINT plugin_version_id_fkey FOREIGN KEY (version_id)
        REFERENCES entry_version (id) ON DELETE CASCADE
);
CREATE INDEX plugin_namespace_idx ON plugin (namespace);
CREATE INDEX plugin_status_idx ON plugin (status);

CREATE TABLE plugin_oci_package (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    plugin_id uuid NOT NULL,
    identifier text NOT NULL,
    digest text,
    media_type text,
    CONSTRAINT plugin_oci_package_pkey PRIMARY KEY (id),
    CONSTRAINT plugin_oci_package_plugin_id_fkey FOREIGN KEY (plugin_id)
        REFERENCES plugin (version_id) ON DELETE CASCADE
);
CREATE INDEX plugin_oci_package_plugin_id_idx ON plugin_oci_package (plugin_id);

CREATE TABLE plugin_git_package (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    plugin_id uuid NOT NULL,
    url text NOT NULL,
    ref text,
    commit_sha text,
    subfolder text,
    CONSTRAINT plugin_git_package_pkey PRIMARY KEY (id),
    CONSTRAINT plugin_git_package_plugin_id_fkey FOREIGN KEY (plugin_id)
        REFERENCES plugin (version_id) ON DELETE CASCADE
);
CREATE INDEX plugin_git_package_plugin_id_idx ON plugin_git_package (plugin_id);

ALTER TABLE registry_sync ADD COLUMN plugin_count bigint NOT NULL DEFAULT 0;

-- Package arguments (migration 23): whole argument objects as JSONB arrays instead of a text[] of names.
-- The tables are empty here, so the column type changes without a conversion.
ALTER TABLE mcp_server_package
    ALTER COLUMN runtime_arguments TYPE jsonb USING NULL,
    ALTER COLUMN package_arguments TYPE jsonb USING NULL;

UPDATE schema_migrations SET version = 23;
