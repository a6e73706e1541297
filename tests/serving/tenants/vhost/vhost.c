#define EDGEHOST_IMPLEMENTATION
#include "edgehost.h"

EDGEHOST_HANDLER(whoami)
{
    return eh_respond_str("vhost");
}
