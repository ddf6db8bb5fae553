-- silkwatch warehouse schema, migration 004: views for analysts' SQL (silkwatch sql, BI tools).
-- Every view and column is documented in docs/tables.md (a test checks that).

-- The most recent score of every item for every theme, whichever model and theme version
-- produced it (item_themes keeps every version; this is the one to read by default).
CREATE VIEW latest_scores AS
SELECT item_id, theme, score, matched, model, themes_version, evidence, scored_at
FROM item_themes
QUALIFY row_number() OVER (PARTITION BY item_id, theme ORDER BY scored_at DESC) = 1;

-- Items that match a theme by their latest score, with where they came from: the
-- starting point for "what matched this week" questions.
CREATE VIEW matches AS
SELECT
    s.theme,
    s.score,
    i.title,
    i.url,
    coalesce(f.name, f.title, i.feed_url) AS source,
    i.published_at,
    i.fetched_at,
    s.evidence,
    i.item_id,
    i.feed_url
FROM latest_scores s
JOIN items i USING (item_id)
LEFT JOIN feeds f ON f.url = i.feed_url
WHERE s.matched;
