/* The public JSON shape of an appointment (docs/api.md, "Appointment": startsAt/endsAt,
 * timeZone and both parties' names), from an appointments_api row. */
#ifndef DP_APPOINTMENTS_H
#define DP_APPOINTMENTS_H

#include <jansson.h>

#include "dp_db.h"

json_t *dp_appointment_json(apr_pool_t *p, const dp_rows *rows, int i);

#endif
