#include "err.h"

static const char *const err_texts[] = {
#define LZ_ERR_TEXT(name, text) text,
	LZ_ERR_LIST(LZ_ERR_TEXT)
#undef LZ_ERR_TEXT
};

static const char *const err_names[] = {
#define LZ_ERR_NAME(name, text) #name,
	LZ_ERR_LIST(LZ_ERR_NAME)
#undef LZ_ERR_NAME
};

const char *err_str(lz_err e)
{
	if ((unsigned)e >= (unsigned)LZ_ERR__COUNT)
		return "unknown error";
	return err_texts[e];
}

const char *err_name(lz_err e)
{
	if ((unsigned)e >= (unsigned)LZ_ERR__COUNT)
		return "LZ_E?";
	return err_names[e];
}
