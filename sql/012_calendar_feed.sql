-- 012_calendar_feed: a provider's private calendar feed (RFC 5545, GET /api/calendar/<token>.ics)
-- and the SEQUENCE of each appointment's event in it.

-- One feed per provider. The link holds 256 random bits; only their SHA-256 is kept, so the
-- table alone cannot produce a working link. A new link replaces the row (the old one stops
-- working at once); turning the feed off deletes it.
CREATE TABLE calendar_feeds (
    provider_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- RFC 5545 3.8.7.4: a calendar application takes an event with a higher SEQUENCE as the newer
-- version. It goes up by one whenever the appointment moves or its status changes; the
-- trigger owns the column (whatever an UPDATE sets it to is overridden), so the statements
-- that reschedule, confirm or cancel need not know about it.
ALTER TABLE appointments
    ADD COLUMN calendar_sequence integer NOT NULL DEFAULT 0 CHECK (calendar_sequence >= 0);

CREATE FUNCTION appointments_calendar_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.calendar_sequence := OLD.calendar_sequence
        + CASE WHEN NEW.starts_at IS DISTINCT FROM OLD.starts_at
                 OR NEW.ends_at IS DISTINCT FROM OLD.ends_at
                 OR NEW.status IS DISTINCT FROM OLD.status
               THEN 1 ELSE 0 END;
    RETURN NEW;
END
$$;
CREATE TRIGGER appointments_calendar_sequence
    BEFORE UPDATE OF starts_at, ends_at, status, calendar_sequence ON appointments
    FOR EACH ROW EXECUTE FUNCTION appointments_calendar_sequence();

-- What a calendar on a phone may show of a client: initials, the first letter (not counting
-- punctuation) of the first and of the last word ("Ana de la Cruz" -> "A. C.", "Ana" -> "A.").
-- NULL when the name has no such letter.
CREATE FUNCTION dp_initials(name text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    RETURN (SELECT CASE cardinality(l) WHEN 0 THEN NULL
                                       WHEN 1 THEN l[1] || '.'
                                       ELSE l[1] || '. ' || l[cardinality(l)] || '.' END
              FROM (SELECT ARRAY(SELECT upper(substring(t.w FROM '[^[:punct:]]'))
                                   FROM regexp_split_to_table(name, '[[:space:]]+')
                                            WITH ORDINALITY AS t (w, i)
                                  WHERE t.w ~ '[^[:punct:]]'
                                  ORDER BY t.i) AS l) x);

GRANT SELECT, INSERT, UPDATE, DELETE ON calendar_feeds TO :"app_role";
