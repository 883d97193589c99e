"""What the service keeps outside itself: AWS clients, the circuit breaker, one DynamoDB
layer, the result cache and the customer history. Optional dependencies: a failure here
degrades an answer, it never fails one."""
