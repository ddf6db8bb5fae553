-- silkwatch warehouse schema, migration 003: the alert outbox.
-- An alert message is rendered once, stored here, and only then sent. A retry after a
-- failure or a crash sends these exact bytes again, so the receiver sees the same
-- Message-ID and the same contents (mail clients fold the duplicate). alerts_sent rows
-- point at their message through alerts_sent.message_id.

-- One row per alert message (one rule, one channel, its new matches).
CREATE TABLE alert_messages (
    message_id  VARCHAR PRIMARY KEY,   -- stable id: hash of rule, channel and sorted item ids
    rule        VARCHAR NOT NULL,      -- alert rule name
    channel     VARCHAR NOT NULL,      -- email | outbox | webhook:NAME
    created_at  TIMESTAMPTZ NOT NULL,  -- when it was rendered (its Date header)
    items       INTEGER NOT NULL,      -- matches listed in it
    payload     BLOB NOT NULL          -- exact bytes sent: an RFC 5322 email or a webhook JSON body
);
