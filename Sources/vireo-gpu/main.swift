print("vireo-gpu")
