import ChatProtocol
print("todo")
