-- A plan compares row by row only the entries whose content changed: each entry records the digest of
-- what was written for it (reconciler/targets/postgres/desired.py EntrySpec.digest: its files' content
-- digests), NULL when its inventory holds something else (versions kept after they left the
-- repository) or was written before this migration.
ALTER TABLE mcp_gitops.owned_entry ADD COLUMN digest text;

-- Field digests are gone: a plan names the fields that changed by comparing the stored values of the
-- versions whose file changed (it reads them anyway to show them), so a write no longer encodes every
-- field group of every version a second time to digest it.
ALTER TABLE mcp_gitops.owned_version DROP COLUMN field_digests;

UPDATE mcp_gitops.meta SET value = '3' WHERE key = 'bookkeeping_version';
