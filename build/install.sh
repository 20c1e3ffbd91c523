#!/usr/bin/env bash
# `make install`: the module into httpd's module directory (apxs), its configuration where
# the system Apache keeps module configuration, and the migrations (with the script that
# applies them), the built portal and its site fragment under /usr/share/mod_docportal.
# Touches no database, enables nothing.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
module=${1:?usage: install.sh path/to/mod_docportal.so}
APXS=${APXS:-/usr/bin/apxs}
share=${DOCPORTAL_SHARE:-/usr/share/mod_docportal}
confdir=$("$APXS" -q SYSCONFDIR)

"$APXS" -i -n docportal "$module"

if [ -d "$confdir/mods-available" ]; then
    target=$confdir/mods-available           # Debian/Ubuntu: a2enmod docportal
else
    target=$confdir/conf.d                    # other layouts: an included directory
    mkdir -p "$target"
fi
sed "s|/usr/lib/apache2/modules|$("$APXS" -q LIBEXECDIR)|" "$root/conf/docportal.load" >"$target/docportal.load"
chmod 644 "$target/docportal.load"
# An admin's edited configuration is never overwritten.
if [ -e "$target/docportal.conf" ] && ! cmp -s "$root/conf/docportal.conf" "$target/docportal.conf"; then
    install -m 644 "$root/conf/docportal.conf" "$target/docportal.conf.dist"
    echo "kept your $target/docportal.conf; the shipped one is docportal.conf.dist"
else
    install -m 644 "$root/conf/docportal.conf" "$target/docportal.conf"
fi
install -d -m 755 "$share/sql"
install -m 644 "$root"/sql/[0-9][0-9][0-9]_*.sql "$share/sql/"
install -m 755 "$root/build/migrate.sh" "$share/migrate.sh"
install -m 644 "$root/conf/docportal-ssl.conf" "$share/docportal-ssl.conf"
# the portal (make portal): its built files, replaced whole, and the site fragment serving them
install -m 644 "$root/conf/docportal-portal.conf" "$share/docportal-portal.conf"
bash "$root/build/portal.sh" stage "$share/portal"

cat <<MSG
mod_docportal installed:
  module         $("$APXS" -q LIBEXECDIR)/mod_docportal.so
  configuration  $target/docportal.{load,conf}
  migrations     $share/sql (apply: DATABASE_URL=postgresql://OWNER@HOST/DB $share/migrate.sh)
  HTTPS site     $share/docportal-ssl.conf (example mod_ssl site: copy to sites-available)
  portal         $share/portal, served by $share/docportal-portal.conf (Include it in that site)
Next: set DBDParams, the JWT secret, the message key, the audit key, the SMTP server and the public URL in docportal.conf
  (each: openssl rand -hex 32 > FILE; chmod 600 FILE), apply the migrations, then
  a2enmod docportal && apachectl graceful      (Debian; elsewhere include docportal.load/.conf)
MSG
