-- 011_availability: when a provider works (weekly hours with an optional break, the length of
-- the slots offered to clients) and the days it does not (time off).

-- A provider's weekly template exists once it was saved; until then the API shows a default
-- (Monday to Friday, 09:00-17:00) and does not hold client bookings to it.
CREATE TABLE working_hours (
    provider_id  uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    slot_minutes integer NOT NULL CHECK (slot_minutes BETWEEN 15 AND 240),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per ISO weekday (1 Monday .. 7 Sunday); times are the provider's local ones.
CREATE TABLE working_days (
    provider_id uuid NOT NULL REFERENCES working_hours (provider_id) ON DELETE CASCADE,
    weekday     smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    enabled     boolean NOT NULL,
    start_time  time NOT NULL,
    end_time    time NOT NULL,
    break_start time,
    break_end   time,
    PRIMARY KEY (provider_id, weekday),
    CHECK (start_time < end_time),
    CHECK ((break_start IS NULL) = (break_end IS NULL)),
    CHECK (break_start IS NULL
           OR (start_time <= break_start AND break_start < break_end AND break_end <= end_time))
);

-- Whole local days off, first and last included.
CREATE TABLE time_off (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    first_day   date NOT NULL,
    last_day    date NOT NULL,
    reason      text CHECK (length(reason) <= 500),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (first_day <= last_day)
);
CREATE INDEX time_off_provider_idx ON time_off (provider_id, first_day);

GRANT SELECT, INSERT, UPDATE, DELETE ON working_hours TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON working_days TO :"app_role";
GRANT SELECT, INSERT, DELETE ON time_off TO :"app_role";
