package DocPortal::Test;
# Helpers for the mod_docportal Apache::Test suite (t/api/*.t). A test file says
# `use DocPortal::Test;` and gets every helper: this module loads the helper modules below and
# exports what each of them exports.
#
#   DocPortal::Http         api (every request of a test to the suite's server), json_body,
#                           dump_res, error_is, success_is, common_headers_problems, raw_http,
#                           tls_connect and $TLS (the TLS pass), http_at and api_at (another
#                           httpd), $UUID_RE, $TS_RE
#   DocPortal::Db           psql, psql_app, _run_psql (psql as another role), sql_quote,
#                           psql_must, owner_url, audit_events_for, audit_single
#   DocPortal::Users        register, register_provider, register_client, login, unique_email,
#                           $PASSWORD, provider_session, client_session, invite_client,
#                           invite_token_of, jwt_secret, jwt_make, jwt_parts, uuid_v4,
#                           set_cookies, csrf_of, session_server, login_race, PROVIDER_KEYS,
#                           CLIENT_KEYS, PUBLIC_PROVIDER_KEYS
#   DocPortal::Race         race (requests sent at the same moment)
#   DocPortal::Scheduling   book, appt_get, appt_patch, appt_to_past, day_offset, local_today,
#                           next_year, us_dst_start, ts_epoch, APPOINTMENT_KEYS, $JITSI_RE
#   DocPortal::Messaging    send_message, conversation, message_list, mark_read, message_rows,
#                           message_row, utf8_hex, dp_rekey, MESSAGE_KEYS
#   DocPortal::Billing      stripe_fake, stripe_reset, stripe_mode, stripe_requests,
#                           stripe_intents_posted, webhook_secret, stripe_sign, webhook_post,
#                           stripe_event_json, billing_practice, create_invoice, make_invoice,
#                           invoice_list, pay_invoice, invoice_row, invoice_to_overdue,
#                           money_in_json, stripe_intents_for, INVOICE_KEYS
#   DocPortal::Notes        note_create, note_get, note_patch, note_sign, note_addendum,
#                           appointment_for_note, note_row, addendum_rows, sha256_text,
#                           note_hash_expected, note_audit_is, NOTE_KEYS, ADDENDUM_KEYS,
#                           SOAP_CONTENT, DAP_CONTENT, PROGRESS_CONTENT
#   DocPortal::AuditReport  audit_report, audit_insert_events, csv_parse, csv_cell_for,
#                           EVENT_KEYS
#   DocPortal::ErrorLog     error_log_mark, error_log_since, expect_error_lines
#
# DocPortal::Mail, ::Server, ::AuditChain, ::Load and ::Routes stand apart: a test uses them
# itself.
# The helper modules use one another downwards only (Http and Db first) and never this one.
#
# The test files say `use Apache::Test qw(-withtestmore);`, which loads Test::More into them;
# the helper modules only call Test::More through its fully qualified names.
use strict;
use warnings;

use Exporter 'import';
use DocPortal::Http;
use DocPortal::Db qw(:DEFAULT _run_psql);
use DocPortal::Users;
use DocPortal::Race;
use DocPortal::Scheduling;
use DocPortal::Messaging;
use DocPortal::Billing;
use DocPortal::Notes;
use DocPortal::AuditReport;
use DocPortal::ErrorLog;

our @EXPORT = (@DocPortal::Http::EXPORT, @DocPortal::Db::EXPORT, @DocPortal::Users::EXPORT,
               @DocPortal::Race::EXPORT, @DocPortal::Scheduling::EXPORT,
               @DocPortal::Messaging::EXPORT, @DocPortal::Billing::EXPORT,
               @DocPortal::Notes::EXPORT, @DocPortal::AuditReport::EXPORT,
               @DocPortal::ErrorLog::EXPORT);

# $DocPortal::Test::TLS and $DocPortal::Test::PASSWORD are the helper modules' own variables
# under a second name (the whole glob, not just the value), so that a test's
# `local $DocPortal::Test::TLS = 0` is what api() and the header checks see.
{
    no warnings 'once';
    *TLS      = *DocPortal::Http::TLS;
    *PASSWORD = *DocPortal::Users::PASSWORD;
}

1;
