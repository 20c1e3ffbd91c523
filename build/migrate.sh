#!/bin/bash
# Apply the database migrations NNN_name.sql in order, each once.
# Usage: DATABASE_URL=postgresql://owner:pw@host:port/db [DP_APP_ROLE=docportal_app]
#        [DP_SQL_DIR=dir] build/migrate.sh
# SQL dir: DP_SQL_DIR, else ../sql or sql/ beside this script (checkout or
# installed tree), else /usr/share/mod_docportal/sql.
# Each file runs in its own transaction (psql -1) together with the row that
# records it in schema_migrations, so a failed migration leaves no trace.
# Runs as the database owner; needs no superuser.
set -eu

die() { echo "migrate.sh: $*" >&2; exit 1; }

[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL must be set (libpq URI of the database owner, e.g. from 'build/pg.sh url')"
app_role=${DP_APP_ROLE:-docportal_app}

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${DP_SQL_DIR:-}" ]; then
    dir=$DP_SQL_DIR
elif [ -d "$here/../sql" ]; then
    dir=$here/../sql
elif [ -d "$here/sql" ]; then
    dir=$here/sql
else
    dir=/usr/share/mod_docportal/sql
fi
[ -d "$dir" ] || die "no migrations directory: $dir"

# psql's NOTICEs ("already exists, skipping") are noise here.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
psql_() { psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"; }

# Collect the files; the glob sorts them, the version check catches dupes.
files=()
versions=()
names=()
for f in "$dir"/[0-9][0-9][0-9]_*.sql; do
    [ -e "$f" ] || continue
    base=${f##*/}
    # The name goes into SQL as a literal: allow only harmless characters.
    case ${base%.sql} in
        *[!A-Za-z0-9_.-]*) die "bad migration file name: $base" ;;
    esac
    v=$((10#${base:0:3}))
    if [ "${#versions[@]}" -gt 0 ] && [ "$v" -eq "${versions[-1]}" ]; then
        die "two migrations with version $v: ${names[-1]} and $base"
    fi
    files+=("$f")
    versions+=("$v")
    names+=("$base")
done
max_file=0
[ "${#versions[@]}" -eq 0 ] || max_file=${versions[-1]}

# The app role is created by pg.sh (or the admin), never by a migration.
exists=$(psql_ -At -v app_role="$app_role" <<'SQL'
SELECT count(*) FROM pg_roles WHERE rolname = :'app_role';
SQL
) || die "cannot connect with DATABASE_URL"
[ "$exists" = 1 ] || die "role '$app_role' does not exist (set DP_APP_ROLE or create it, e.g. with build/pg.sh init)"

psql_ -c "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())" ||
    die "cannot create schema_migrations"

list=$(psql_ -At -c "SELECT version FROM schema_migrations ORDER BY version") ||
    die "cannot read schema_migrations"
declare -A applied=()
max_db=0
for v in $list; do
    applied[$v]=1
    max_db=$v
done

if [ "$max_db" -gt "$max_file" ]; then
    die "the database is at version $max_db but the newest migration here is $max_file ($dir):
  this mod_docportal is older than the database; install the matching version"
fi

for i in "${!files[@]}"; do
    v=${versions[$i]}
    [ -z "${applied[$v]:-}" ] || continue
    # The INSERT comes first: a concurrent migrate.sh blocks on the primary
    # key, then fails on it and rolls back before running the file twice.
    psql_ -1 -v app_role="$app_role" \
        -c "INSERT INTO schema_migrations (version, name) VALUES ($v, '${names[$i]}')" \
        -f "${files[$i]}" ||
        die "migration ${names[$i]} failed; nothing of it was applied"
    echo "applied ${names[$i]}"
    [ "$v" -le "$max_db" ] || max_db=$v
done
echo "schema at version $max_db"
