-- 017_aead_version: the format of each sealed row (modules/core/dp_aead.h). Version 1 bound
-- a ciphertext to its row id and one other id; version 2 also binds what the row is for (a
-- purpose label), the version, and a message's receiver. Rows written before this migration
-- are version 1 (they still open); the module writes version 2, and dp-rekey (make rekey)
-- re-seals version 1 rows as version 2. The signed-note trigger lets dp-rekey change this
-- column with the key id, nonce and ciphertext (it is not in the list the trigger compares).

ALTER TABLE messages
    ADD COLUMN aead_version smallint NOT NULL DEFAULT 1 CHECK (aead_version IN (1, 2));
ALTER TABLE clinical_notes
    ADD COLUMN aead_version smallint NOT NULL DEFAULT 1 CHECK (aead_version IN (1, 2));
ALTER TABLE note_addenda
    ADD COLUMN aead_version smallint NOT NULL DEFAULT 1 CHECK (aead_version IN (1, 2));
