"""HTTP only: parse and validate a request, call one service, answer in AWS's shape."""
