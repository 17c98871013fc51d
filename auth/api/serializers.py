from __future__ import annotations

from rest_framework import serializers

from auth.models import ServiceKey


class ServiceKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ServiceKey
        fields = ["id", "name", "role", "prefix", "created_at", "last_used_at"]
        read_only_fields = fields


class ServiceKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=["service"], default="service")


class CreatedServiceKeySerializer(ServiceKeySerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ServiceKeySerializer.Meta):
        fields = [*ServiceKeySerializer.Meta.fields, "secret"]
        read_only_fields = fields


class ServiceKeyPageSerializer(serializers.Serializer):
    items = ServiceKeySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
