from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import User


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True)
    username = serializers.CharField(required=False, max_length=150)

    def validate_password(self, value):
        validate_password(value)
        return value


def user_json(user, roles=None):
    data = {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "created_at": user.created_at.isoformat(),
    }
    if roles is not None:
        data["display_name"] = user.display_name
        data["roles"] = roles
    return data


class RegisterView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        s = RegisterSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        try:
            # The unique constraint decides, not a check before the insert.
            user = User.objects.create_user(**s.validated_data)
        except IntegrityError:
            return Response(
                {"detail": "email or username taken", "code": "conflict"},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(user_json(user), status=status.HTTP_201_CREATED)


class ProfileView(APIView):
    """The user JWTAuthentication read from the database, and its roles (one more query)."""

    def get(self, request):
        user = request.user
        roles = list(user.groups.values_list("name", flat=True))
        return Response(user_json(user, roles))


class VerifyView(APIView):
    """Forward-auth check: JWTAuthentication has verified the token and read the user (its
    default); nothing more."""

    def get(self, request):
        res = Response(status=status.HTTP_200_OK)
        res["X-Auth-Subject"] = str(request.user.id)
        return res
