-- Field digests are gone: a plan names the fields that changed by comparing the stored values of the
-- versions whose file changed (it reads them anyway to show them), so a write no longer encodes every
-- field group of every version a second time to digest it.

ALTER TABLE mcp_gitops.owned_version DROP COLUMN field_digests;

UPDATE mcp_gitops.meta SET value = '3' WHERE key = 'bookkeeping_version';
