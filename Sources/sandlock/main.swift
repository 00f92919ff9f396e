print("sandlock")
