"""The API's OpenAPI schema class (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS). Apart from
config.platform.api.schema, which config.platform.api.auth imports while DRF's views are still loading."""

from drf_spectacular.openapi import AutoSchema as _AutoSchema


class AutoSchema(_AutoSchema):
    """Request bodies of serializers that refuse unknown fields (`refuses_unknown_fields`, set
    by ledger.serializers.StrictSerializer) say so: `additionalProperties: false`, so a client
    generated from the schema knows that a typo is a 400."""

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False
        return schema
