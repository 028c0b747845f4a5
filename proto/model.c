#include "proto/model.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

lz_err model_strdup(char **dst, const char *src)
{
	if (src == NULL) {
		*dst = NULL;
		return LZ_OK;
	}
	*dst = strdup(src);
	return *dst != NULL ? LZ_OK : LZ_ENOMEM;
}

/* Replaces the borrowed string pointers of a struct that was just copied bitwise with owned
 * copies. On failure every string already duplicated is freed and the remaining pointers are
 * set to NULL, so the struct is released. */
static lz_err model_strings_dup(char **fields[], size_t n)
{
	size_t failed, i;

	for (failed = 0; failed < n; failed++) {
		if (model_strdup(fields[failed], *fields[failed]) != LZ_OK)
			goto out_free_copied;
	}
	return LZ_OK;

out_free_copied:
	for (i = 0; i < n; i++) {
		if (i < failed)
			free(*fields[i]);
		*fields[i] = NULL;
	}
	return LZ_ENOMEM;
}

void entity_desc_release(struct entity_desc *d)
{
	if (d == NULL)
		return;
	free(d->forward_to);
	free(d->forward_dlq_to);
	free(d->user_metadata);
	d->forward_to = NULL;
	d->forward_dlq_to = NULL;
	d->user_metadata = NULL;
}

lz_err entity_desc_copy(struct entity_desc *dst, const struct entity_desc *src)
{
	char **fields[] = { &dst->forward_to, &dst->forward_dlq_to, &dst->user_metadata };

	*dst = *src;
	return model_strings_dup(fields, sizeof(fields) / sizeof(fields[0]));
}

#define CORRELATION_FIELDS(c)                                                                  \
	{                                                                                      \
		&(c)->correlation_id, &(c)->message_id, &(c)->to, &(c)->reply_to, &(c)->label, \
			&(c)->session_id, &(c)->reply_to_session_id, &(c)->content_type        \
	}

void correlation_filter_release(struct correlation_filter *c)
{
	char **fields[] = CORRELATION_FIELDS(c);
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
	proplist_release(&c->properties);
}

lz_err correlation_filter_copy(struct correlation_filter *dst, const struct correlation_filter *src)
{
	char **fields[] = CORRELATION_FIELDS(dst);
	lz_err err;

	*dst = *src;
	proplist_init(&dst->properties);
	err = model_strings_dup(fields, sizeof(fields) / sizeof(fields[0]));
	if (err != LZ_OK)
		return err;
	err = proplist_copy(&dst->properties, &src->properties);
	if (err != LZ_OK)
		correlation_filter_release(dst);
	return err;
}

void rule_desc_release(struct rule_desc *r)
{
	if (r == NULL)
		return;
	free(r->name);
	free(r->sql_expression);
	free(r->action_sql);
	r->name = NULL;
	r->sql_expression = NULL;
	r->action_sql = NULL;
	proplist_release(&r->sql_params);
	proplist_release(&r->action_params);
	correlation_filter_release(&r->corr);
}

lz_err rule_desc_copy(struct rule_desc *dst, const struct rule_desc *src)
{
	char **fields[] = { &dst->name, &dst->sql_expression, &dst->action_sql };
	lz_err err;

	*dst = *src;
	proplist_init(&dst->sql_params);
	proplist_init(&dst->action_params);
	err = correlation_filter_copy(&dst->corr, &src->corr);
	if (err != LZ_OK) {
		dst->name = NULL;
		dst->sql_expression = NULL;
		dst->action_sql = NULL;
		return err;
	}
	err = model_strings_dup(fields, sizeof(fields) / sizeof(fields[0]));
	if (err != LZ_OK)
		goto out_release;
	err = proplist_copy(&dst->sql_params, &src->sql_params);
	if (err != LZ_OK)
		goto out_release;
	err = proplist_copy(&dst->action_params, &src->action_params);
	if (err != LZ_OK)
		goto out_release;
	return LZ_OK;

out_release:
	rule_desc_release(dst);
	return err;
}

#define MSG_PROPS_FIELDS(p)                                                                   \
	{                                                                                     \
		&(p)->message_id, &(p)->correlation_id, &(p)->session_id, &(p)->reply_to,     \
			&(p)->reply_to_session_id, &(p)->to, &(p)->label, &(p)->content_type, \
			&(p)->partition_key, &(p)->via_partition_key                          \
	}

void msg_props_release(struct msg_props *p)
{
	char **fields[] = MSG_PROPS_FIELDS(p);
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
}

lz_err msg_props_copy(struct msg_props *dst, const struct msg_props *src)
{
	char **fields[] = MSG_PROPS_FIELDS(dst);

	*dst = *src;
	return model_strings_dup(fields, sizeof(fields) / sizeof(fields[0]));
}

const char *entity_kind_name(enum entity_kind k)
{
	switch (k) {
	case ENTITY_QUEUE:
		return "Queue";
	case ENTITY_TOPIC:
		return "Topic";
	case ENTITY_SUBSCRIPTION:
		return "Subscription";
	}
	return "Unknown";
}

static const char *const status_names[] = {
	[STATUS_ACTIVE] = "Active",
	[STATUS_DISABLED] = "Disabled",
	[STATUS_SEND_DISABLED] = "SendDisabled",
	[STATUS_RECEIVE_DISABLED] = "ReceiveDisabled",
};

const char *entity_status_name(enum entity_status s)
{
	if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0]))
		return "Unknown";
	return status_names[s];
}

/* Case-insensitive, as .NET's Enum.Parse(ignoreCase) that the service uses. */
lz_err entity_status_parse(const char *s, enum entity_status *out)
{
	size_t i;

	for (i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++) {
		if (strcasecmp(s, status_names[i]) == 0) {
			*out = (enum entity_status)i;
			return LZ_OK;
		}
	}
	return LZ_EINVAL;
}
