-- 005_clinical_notes: one note per appointment, its content, diagnosis and private notes
-- sealed together with the message key ring (AES-256-GCM; psychotherapy notes are the most
-- protected records of the practice). Signing locks a note; later changes are addenda.

CREATE TABLE clinical_notes (
    id             uuid PRIMARY KEY,
    appointment_id uuid NOT NULL UNIQUE REFERENCES appointments (id),
    provider_id    uuid NOT NULL REFERENCES users (id),
    client_id      uuid NOT NULL REFERENCES users (id),
    type           text NOT NULL CHECK (type IN ('SOAP', 'DAP', 'Progress')),
    key_id         text NOT NULL,
    nonce          bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext     bytea NOT NULL,   -- {"content","diagnosis","privateNotes"} sealed
    signed_at      timestamptz,
    signed_by      uuid REFERENCES users (id),
    content_hash   text,             -- SHA-256 of the canonical note, fixed at signing
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((signed_at IS NULL) = (signed_by IS NULL) AND (signed_at IS NULL) = (content_hash IS NULL))
);
CREATE INDEX clinical_notes_provider_idx ON clinical_notes (provider_id);

CREATE TABLE note_addenda (
    id           uuid PRIMARY KEY,
    note_id      uuid NOT NULL REFERENCES clinical_notes (id),
    author_id    uuid NOT NULL REFERENCES users (id),
    key_id       text NOT NULL,
    nonce        bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext   bytea NOT NULL,
    content_hash text NOT NULL,
    signed_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX note_addenda_note_idx ON note_addenda (note_id, signed_at);

-- A signed note never changes again, whoever asks (the app role has no other way either).
-- The one exception: key rotation (dp-rekey, run as the table's owner with
-- docportal.rekey = 'on') may re-seal a signed note under a new key, changing nothing else;
-- the content hash fixed at signing still covers what the new ciphertext opens to.
CREATE FUNCTION clinical_notes_refuse_signed_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.signed_at IS NOT NULL THEN
        IF coalesce(current_setting('docportal.rekey', true), '') = 'on'
           AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID),
                           'USAGE')
           AND (NEW.id, NEW.appointment_id, NEW.provider_id, NEW.client_id, NEW.type,
                NEW.signed_at, NEW.signed_by, NEW.content_hash, NEW.created_at)
               IS NOT DISTINCT FROM
               (OLD.id, OLD.appointment_id, OLD.provider_id, OLD.client_id, OLD.type,
                OLD.signed_at, OLD.signed_by, OLD.content_hash, OLD.created_at) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'clinical note % is signed', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER clinical_notes_signed_is_final BEFORE UPDATE ON clinical_notes
    FOR EACH ROW EXECUTE FUNCTION clinical_notes_refuse_signed_change();

GRANT SELECT, INSERT, UPDATE ON clinical_notes TO :"app_role";
GRANT SELECT, INSERT ON note_addenda TO :"app_role";
