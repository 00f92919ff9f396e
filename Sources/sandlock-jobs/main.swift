print("sandlock-jobs: not built yet")
