// TavanaServer
