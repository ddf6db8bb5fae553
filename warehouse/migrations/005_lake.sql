-- silkwatch warehouse schema, migration 005: publishing to a DuckLake (docs/scaling.md).
-- The lake has no primary keys, so this file remembers what it has already published
-- there; a publish sends only the rest. A crash after the lake commit and before these rows
-- are written only means those rows are offered again, and the lake's MERGE skips them.

-- Items this file has published, per lake.
CREATE TABLE lake_published_items (
    lake     VARCHAR NOT NULL,  -- the lake's catalog (lake.catalog, any password removed)
    item_id  VARCHAR NOT NULL,  -- items.item_id
    PRIMARY KEY (lake, item_id)
);

-- Scores this file has published, per lake.
CREATE TABLE lake_published_scores (
    lake            VARCHAR NOT NULL,  -- the lake's catalog (lake.catalog, any password removed)
    item_id         VARCHAR NOT NULL,  -- item_themes.item_id
    theme           VARCHAR NOT NULL,  -- item_themes.theme
    model           VARCHAR NOT NULL,  -- item_themes.model
    themes_version  VARCHAR NOT NULL,  -- item_themes.themes_version
    PRIMARY KEY (lake, item_id, theme, model, themes_version)
);

-- One row per publish attempt, ok or failed: what silkwatch lake status shows.
CREATE TABLE lake_publishes (
    started_at   TIMESTAMPTZ NOT NULL,  -- when the publish began
    lake         VARCHAR NOT NULL,      -- the lake's catalog (any password removed)
    writer       VARCHAR NOT NULL,      -- author recorded on the lake snapshots
    status       VARCHAR NOT NULL,      -- ok | failed
    items        INTEGER NOT NULL,      -- items added to the lake
    scores       INTEGER NOT NULL,      -- item_themes rows added to the lake
    feeds        INTEGER NOT NULL,      -- feeds rows added or updated in the lake
    snapshot_id  BIGINT,                -- the lake's latest snapshot after the publish
    elapsed_ms   INTEGER,
    error        VARCHAR                -- why a failed publish failed; the next one retries
);
