/* Resource handlers, one per endpoint; the route table in mod_docportal.c names their
 * roles and audit actions. */
#ifndef DP_HANDLERS_H
#define DP_HANDLERS_H

#include "dp_request.h"

/* health.c */
dp_error *dp_health_get(dp_ctx *c);

/* openapi.c: the OpenAPI document of the API */
dp_error *dp_openapi_get(dp_ctx *c);

/* auth.c */
dp_error *dp_auth_register(dp_ctx *c);
dp_error *dp_auth_login(dp_ctx *c);
dp_error *dp_auth_me(dp_ctx *c);
dp_error *dp_auth_logout(dp_ctx *c);
dp_error *dp_auth_me_update(dp_ctx *c);
dp_error *dp_auth_google(dp_ctx *c);
dp_error *dp_auth_config(dp_ctx *c);

/* account.c: verified email, password reset and change */
dp_error *dp_account_verify_email(dp_ctx *c);
dp_error *dp_account_verify_resend(dp_ctx *c);
dp_error *dp_account_reset_request(dp_ctx *c);
dp_error *dp_account_reset_confirm(dp_ctx *c);
dp_error *dp_account_change_password(dp_ctx *c);

/* availability.c */
dp_error *dp_avail_hours_get(dp_ctx *c);
dp_error *dp_avail_hours_put(dp_ctx *c);
dp_error *dp_avail_timeoff_list(dp_ctx *c);
dp_error *dp_avail_timeoff_create(dp_ctx *c);
dp_error *dp_avail_timeoff_delete(dp_ctx *c);
dp_error *dp_avail_slots_provider(dp_ctx *c);
dp_error *dp_avail_slots_client(dp_ctx *c);

/* clients.c */
dp_error *dp_clients_list(dp_ctx *c);
dp_error *dp_clients_create(dp_ctx *c);
dp_error *dp_client_provider(dp_ctx *c);

/* appointments.c */
dp_error *dp_appointment_book(dp_ctx *c);
dp_error *dp_appointment_book_by_provider(dp_ctx *c);
dp_error *dp_appointment_get(dp_ctx *c);
dp_error *dp_appointment_update(dp_ctx *c);
dp_error *dp_appointment_cancel(dp_ctx *c);
dp_error *dp_appointment_join(dp_ctx *c);
dp_error *dp_appointment_list_provider(dp_ctx *c);
dp_error *dp_appointment_list_client(dp_ctx *c);

/* messages.c */
dp_error *dp_messages_send(dp_ctx *c);
dp_error *dp_messages_list(dp_ctx *c);
dp_error *dp_messages_mark_read(dp_ctx *c);

/* notes.c */
dp_error *dp_notes_create(dp_ctx *c);
dp_error *dp_notes_get(dp_ctx *c);
dp_error *dp_notes_update(dp_ctx *c);
dp_error *dp_notes_sign(dp_ctx *c);
dp_error *dp_notes_addendum(dp_ctx *c);
/* billing.c */
dp_error *dp_billing_invoices(dp_ctx *c);
dp_error *dp_billing_invoice_create(dp_ctx *c);
dp_error *dp_billing_pay(dp_ctx *c);
dp_error *dp_billing_intent(dp_ctx *c);
dp_error *dp_billing_config(dp_ctx *c);
dp_error *dp_billing_webhook(dp_ctx *c);

/* dashboard.c */
dp_error *dp_dashboard_provider(dp_ctx *c);
dp_error *dp_dashboard_client(dp_ctx *c);

/* auditreport.c: the audit report */
dp_error *dp_auditreport_get(dp_ctx *c);

/* calendar.c: a provider's private calendar feed */
dp_error *dp_calendar_feed_create(dp_ctx *c);
dp_error *dp_calendar_feed_delete(dp_ctx *c);
dp_error *dp_calendar_feed_get(dp_ctx *c);

#endif
