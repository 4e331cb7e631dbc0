-- Rows owned per repository: two repositories (different ownership.identity) share one managed source,
-- and each plans, prunes and checks drift of only its own rows. The owner is the repository identity
-- (reconciler/targets/ownership.py); '' is a caller that names none. Rows recorded before this migration
-- belong to the repository version 1 recorded as the database's single owner, if any.

ALTER TABLE mcp_gitops.owned_source ADD COLUMN owner text NOT NULL DEFAULT '';
ALTER TABLE mcp_gitops.owned_registry ADD COLUMN owner text NOT NULL DEFAULT '';
ALTER TABLE mcp_gitops.owned_entry ADD COLUMN owner text NOT NULL DEFAULT '';
ALTER TABLE mcp_gitops.owned_version ADD COLUMN owner text NOT NULL DEFAULT '';
ALTER TABLE mcp_gitops.state ADD COLUMN owner text NOT NULL DEFAULT '';

UPDATE mcp_gitops.owned_source SET owner = coalesce((SELECT value FROM mcp_gitops.meta WHERE key = 'owner'), '');
UPDATE mcp_gitops.owned_registry SET owner = coalesce((SELECT value FROM mcp_gitops.meta WHERE key = 'owner'), '');
UPDATE mcp_gitops.owned_entry SET owner = coalesce((SELECT value FROM mcp_gitops.meta WHERE key = 'owner'), '');
UPDATE mcp_gitops.owned_version SET owner = coalesce((SELECT value FROM mcp_gitops.meta WHERE key = 'owner'), '');
UPDATE mcp_gitops.state SET owner = coalesce((SELECT value FROM mcp_gitops.meta WHERE key = 'owner'), '');

-- The last successful apply, now one row per owner.
ALTER TABLE mcp_gitops.state DROP CONSTRAINT state_pkey;
ALTER TABLE mcp_gitops.state DROP COLUMN singleton;
ALTER TABLE mcp_gitops.state ADD PRIMARY KEY (owner);

CREATE INDEX owned_entry_owner_idx ON mcp_gitops.owned_entry (owner);
CREATE INDEX owned_version_owner_idx ON mcp_gitops.owned_version (owner);

DELETE FROM mcp_gitops.meta WHERE key = 'owner';
UPDATE mcp_gitops.meta SET value = '2' WHERE key = 'bookkeeping_version';
