-- silkwatch warehouse schema, migration 001.
-- Every public table and column is documented in docs/tables.md (a test checks that).
-- Times are TIMESTAMPTZ in UTC.

-- Which numbered migrations have been applied to this file.
CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,   -- migration number (file prefix)
    name        VARCHAR NOT NULL,      -- migration file name
    applied_at  TIMESTAMPTZ NOT NULL   -- when it was applied
);

-- One row per configured feed: its health and HTTP validators.
CREATE TABLE feeds (
    url              VARCHAR PRIMARY KEY,  -- the configured feed URL (its identity)
    name             VARCHAR,              -- name from the configuration
    title            VARCHAR,              -- the feed's own title, from its last good parse
    tags             VARCHAR[],            -- tags from the configuration
    last_status      VARCHAR,              -- ok | not_modified | fetch_error | parse_error | rate_limited
    last_error       VARCHAR,              -- message of the last failure; NULL after a success
    error_count      INTEGER NOT NULL DEFAULT 0,  -- failures in a row; 0 after a success
    first_error_at   TIMESTAMPTZ,          -- start of the current failure streak
    etag             VARCHAR,              -- ETag of the last 200 response
    last_modified    VARCHAR,              -- Last-Modified of the last 200 response
    last_fetched_at  TIMESTAMPTZ,          -- when we last asked the server
    last_success_at  TIMESTAMPTZ,          -- when the last 200/304 came back
    next_fetch_at    TIMESTAMPTZ           -- not requested again before this (backoff, Retry-After)
);

-- One row per (feed, guid): every item ever seen.
CREATE TABLE items (
    item_id       VARCHAR PRIMARY KEY,  -- stable id: hash of feed URL and guid
    feed_url      VARCHAR NOT NULL,     -- feeds.url it came from
    guid          VARCHAR NOT NULL,     -- the entry's id, else canonical link, else content hash
    url           VARCHAR,              -- canonical link (http/https only)
    title         VARCHAR NOT NULL,     -- plain text
    summary       VARCHAR NOT NULL,     -- plain text, may be ''
    author        VARCHAR,
    language      VARCHAR,              -- language the feed declares, if any
    published_at  TIMESTAMPTZ,          -- UTC; NULL when the feed gives no parseable date
    fetched_at    TIMESTAMPTZ NOT NULL, -- first time we stored it
    UNIQUE (feed_url, guid)
);

-- Append-only log: one row per feed per cycle.
CREATE SEQUENCE fetch_log_id_seq;
CREATE TABLE fetch_log (
    id           BIGINT PRIMARY KEY DEFAULT nextval('fetch_log_id_seq'),
    run_id       VARCHAR,              -- the cycle (Prefect flow run id, or a uuid)
    feed_url     VARCHAR NOT NULL,
    fetched_at   TIMESTAMPTZ NOT NULL, -- when the request started
    status       VARCHAR NOT NULL,     -- ok | not_modified | fetch_error | parse_error | rate_limited | skipped
    http_status  INTEGER,              -- HTTP status code, if a response came back
    error        VARCHAR,              -- error message; for a stored document, a warning (recovered parse, no entries)
    transient    BOOLEAN,              -- whether the error may go away by itself
    bytes        BIGINT,               -- body size received
    items_seen   INTEGER,              -- entries in the feed document
    items_new    INTEGER,              -- entries stored for the first time
    elapsed_ms   INTEGER               -- fetch + parse time
);

-- Theme scores: one row per item, theme, model and theme-definition version.
CREATE TABLE item_themes (
    item_id         VARCHAR NOT NULL,     -- items.item_id
    theme           VARCHAR NOT NULL,     -- theme name
    score           DOUBLE NOT NULL,      -- calibrated score in [0, 1]
    matched         BOOLEAN NOT NULL,     -- score >= the theme's threshold
    model           VARCHAR NOT NULL,     -- model path or name
    themes_version  VARCHAR NOT NULL,     -- hash of the theme definitions
    evidence        JSON,                 -- why: closest example/sentence, matching terms
    scored_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (item_id, theme, model, themes_version)
);

-- Alert deliveries: at most one per rule, item and channel.
CREATE TABLE alerts_sent (
    rule        VARCHAR NOT NULL,     -- alert rule name
    item_id     VARCHAR NOT NULL,     -- items.item_id
    channel     VARCHAR NOT NULL,     -- email | webhook:NAME | outbox
    story_key   VARCHAR,              -- canonical URL (or item id): one alert per story
    message_id  VARCHAR,              -- stable id of the message that carries it
    sent_at     TIMESTAMPTZ,          -- when delivery succeeded (NULL until then)
    status      VARCHAR NOT NULL,     -- pending | sent | failed
    error       VARCHAR,              -- last delivery error (no secrets)
    attempts    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rule, item_id, channel)
);

-- Digests: one row per period and recipient, so a period is not sent twice.
CREATE TABLE digests_sent (
    period_start  TIMESTAMPTZ NOT NULL,
    period_end    TIMESTAMPTZ NOT NULL,
    recipient     VARCHAR NOT NULL,
    message_id    VARCHAR,
    sent_at       TIMESTAMPTZ,
    status        VARCHAR NOT NULL,   -- pending | sent | failed
    error         VARCHAR,
    items         INTEGER,            -- matches listed
    PRIMARY KEY (period_start, period_end, recipient)
);
