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
CREATE FUNCTION clinical_notes_refuse_signed_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.signed_at IS NOT NULL THEN
        RAISE EXCEPTION 'clinical note % is signed', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER clinical_notes_signed_is_final BEFORE UPDATE ON clinical_notes
    FOR EACH ROW EXECUTE FUNCTION clinical_notes_refuse_signed_change();

GRANT SELECT, INSERT, UPDATE ON clinical_notes TO :"app_role";
GRANT SELECT, INSERT ON note_addenda TO :"app_role";
